/** Redis keys of one-time codes and their limits. A phone's keys share a hash tag. */
export type OtpPurpose = "register" | "login";

export const otpKeys = {
  code: (phone: string, purpose: OtpPurpose) => `{p:${phone}}:otp:${purpose}`,
  resend: (phone: string, purpose: OtpPurpose) => `{p:${phone}}:resend:${purpose}`,
  phoneSends: (phone: string) => `{p:${phone}}:sends`,
  phoneFailures: (phone: string) => `{p:${phone}}:fails`,
  ipSends: (ip: string) => `{ip:${ip}}:sends`,
};
