/** Redis keys of one-time codes and their limits. A phone's keys share a hash tag,
 * an address's keys theirs. */
export type OtpPurpose = "register" | "login";

export const otpKeys = {
  code: (phone: string, purpose: OtpPurpose) => `{p:${phone}}:otp:${purpose}`,
  resend: (phone: string, purpose: OtpPurpose) => `{p:${phone}}:resend:${purpose}`,
  phoneSends: (phone: string) => `{p:${phone}}:sends`,
  /** Wrong codes on the phone: in total, and per client address. */
  phoneFailures: (phone: string) => `{p:${phone}}:wrong`,
  phoneLock: (phone: string) => `{p:${phone}}:lock`,
  /** One address's lock on one phone, and how many it has had lately. */
  pairLock: (phone: string, ip: string) => `{p:${phone}}:lock:${ip}`,
  pairLocks: (phone: string, ip: string) => `{p:${phone}}:locks:${ip}`,
  ipSends: (ip: string) => `{ip:${ip}}:sends`,
  ipFailures: (ip: string) => `{ip:${ip}}:fails`,
  ipLock: (ip: string) => `{ip:${ip}}:lock`,
  ipLocks: (ip: string) => `{ip:${ip}}:locks`,
};
