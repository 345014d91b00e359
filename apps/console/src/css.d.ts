// Vite's CSS imports: a side effect only (the stylesheet is emitted as a file, never inlined).
declare module '*.css';
