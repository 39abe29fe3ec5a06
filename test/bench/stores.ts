/**
 * What each stand-alone bench script (refresh.ts, login.ts, verify-tail.ts) runs the
 * service against: a fresh PostgreSQL database, a fresh Redis key prefix and an SMS
 * inbox, the service's settings for them (no OTP limits in the way of load), and
 * their removal afterwards.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { freshDatabase, REDIS_URL } from "../support/services.js";
import { startSmsInbox, type SmsInbox } from "../support/sms-inbox.js";

export interface BenchStores {
  databaseUrl: string;
  sms: SmsInbox;
  /** The service's environment for these stores. */
  env: Record<string, string>;
  /** Drops the database and the prefix's keys, and closes the inbox. */
  remove(): Promise<void>;
}

export async function benchStores(): Promise<BenchStores> {
  const database = await freshDatabase();
  const keyPrefix = `bench:${randomBytes(4).toString("hex")}:`;
  const sms = await startSmsInbox();
  return {
    databaseUrl: database.url,
    sms,
    env: {
      DATABASE_URL: database.url,
      REDIS_URL,
      REDIS_KEY_PREFIX: keyPrefix,
      SMS_PROVIDER: "webhook",
      SMS_WEBHOOK_URL: sms.url,
      OTP_RESEND_INTERVAL: "0s",
      OTP_MAX_PER_IP_PER_HOUR: "1000000",
      OTP_MAX_PER_PHONE_PER_HOUR: "1000000",
    },
    async remove() {
      await sms.close();
      await database.drop();
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${keyPrefix}*`);
      for (let i = 0; i < keys.length; i += 1000) await redis.unlink(...keys.slice(i, i + 1000));
      await redis.quit();
    },
  };
}
