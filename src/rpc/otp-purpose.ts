/**
 * The wire's `OtpPurpose` and the domain's purpose names, one table both ways. The
 * JSON bridge speaks the names; an unknown one becomes UNSPECIFIED, which SendOtp
 * refuses like any purpose it does not know.
 */
import { OtpPurpose } from "../../gen/identity/v1/auth_pb.js";
import type { OtpPurpose as PurposeName } from "../core/otp/keys.js";

const NAMES: ReadonlyMap<OtpPurpose, PurposeName> = new Map([
  [OtpPurpose.REGISTER, "register"],
  [OtpPurpose.LOGIN, "login"],
]);
const VALUES: ReadonlyMap<string, OtpPurpose> = new Map([...NAMES].map(([value, name]) => [name, value]));

/** The domain's name of a wire purpose; "" for one it has none for (the domain refuses it). */
export function purposeName(value: OtpPurpose): string {
  return NAMES.get(value) ?? "";
}

/** The wire purpose of a name; UNSPECIFIED for an unknown name. */
export function otpPurposeNamed(name: string): OtpPurpose {
  return VALUES.get(name) ?? OtpPurpose.UNSPECIFIED;
}
