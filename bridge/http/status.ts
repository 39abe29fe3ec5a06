/**
 * The one table from a reason, the domain's or the bridge's own, to its HTTP status
 * (DESIGN.md, "HTTP bridge"). Nothing else in the bridge decides a status for a refusal.
 */
import type { BridgeReason } from "./reasons.js";

export const HTTP_STATUS_OF_REASON: Readonly<Record<BridgeReason, number>> = {
  validation_error: 400,
  invalid_json: 400,
  invalid_phone: 400,
  otp_invalid: 400,
  otp_expired: 400,
  phone_already_registered: 400,
  phone_not_registered: 400,
  not_authenticated: 401,
  token_not_valid: 401,
  token_expired: 401,
  token_wrong_type: 401,
  session_expired: 401,
  token_blacklisted: 403,
  session_revoked: 403,
  permission_denied: 403,
  account_disabled: 403,
  cannot_modify_self: 400,
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  otp_attempts_exceeded: 429,
  service_unavailable: 503,
  sms_unavailable: 503,
  internal_error: 500,
};
