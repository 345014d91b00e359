/** Injection token of the validated GatewayConfig (a separate file so features need not import the app module). */
export const GATEWAY_CONFIG = 'GATEWAY_CONFIG';
