/** The package's public surface for TypeScript backends. */
export { loadConfig, ConfigError, type Config } from "./config.js";
export { createIdentity, startGrpcApp, type BuildOptions, type GrpcApp, type GrpcAppOptions, type Identity } from "./app.js";
export { openIdentity, type IdentityLibrary, type VerifyResult } from "./library.js";
export { createIdentityClient, type IdentityClient, type IdentityClientOptions } from "./client.js";
export { AppError, REASONS, type Reason } from "./core/errors.js";
export type { ExtraClaims, TokenClaims, TokenUser } from "./core/tokens/claims.js";
export type { TokenPair } from "./core/tokens/issue.js";
export type { Clock } from "./core/clock.js";
export type { SmsMessage, SmsSender } from "./sms/sender.js";
export { createLocalVerifier, type LocalVerifier, type LocalVerifierOptions } from "./local-verifier/index.js";
