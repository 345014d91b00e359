export * from './challenge-validators';
