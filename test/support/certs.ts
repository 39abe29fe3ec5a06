/**
 * Certificates made at test time with `openssl`: a CA; two server certificates from
 * it for 127.0.0.1 and localhost (the second for rotation); a client certificate
 * from it; a client certificate from another CA (a stranger's). EC P-256 keys, so
 * making them takes milliseconds.
 */
import { execFile } from "node:child_process";
import { X509Certificate, randomBytes } from "node:crypto";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A certificate and its key, as files and as PEM. */
export interface Issued {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
  /** SHA-256 fingerprint, as node:crypto and `openssl x509 -fingerprint -sha256` print it. */
  fingerprint: string;
}

export interface TestCertificates {
  dir: string;
  ca: { file: string; pem: Buffer };
  server: Issued;
  /** Another server certificate from the same CA, for rotation. */
  nextServer: Issued;
  client: Issued;
  /** A client certificate from a CA nobody trusts. */
  foreignClient: Issued;
  /** Files the service is pointed at, holding `server` until a test writes others there. */
  served: { certFile: string; keyFile: string };
  /** Puts `issued` where the service reads its certificate (as a deployment's rotation would). */
  serve(issued: Issued): Promise<void>;
  remove(): Promise<void>;
}

const KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function selfSigned(dir: string, name: string, subject: string): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  await run("openssl", ["req", "-x509", ...KEY, "-keyout", keyFile, "-out", certFile, "-subj", subject, "-days", "2"]);
  return { certFile, keyFile };
}

async function issue(dir: string, name: string, subject: string, ca: { certFile: string; keyFile: string }, extensions: string): Promise<Issued> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await writeFile(ext, extensions);
  await run("openssl", ["req", "-new", ...KEY, "-keyout", keyFile, "-out", csr, "-subj", subject]);
  await run("openssl", ["x509", "-req", "-in", csr, "-CA", ca.certFile, "-CAkey", ca.keyFile, "-set_serial", `0x${randomBytes(8).toString("hex")}`, "-out", certFile, "-days", "2", "-extfile", ext]);
  return issued(certFile, keyFile);
}

async function issued(certFile: string, keyFile: string): Promise<Issued> {
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
  return { certFile, keyFile, cert, key, fingerprint: new X509Certificate(cert).fingerprint256 };
}

const SERVER = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n";
const CLIENT = "extendedKeyUsage=clientAuth\n";

export async function makeCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), "identity-certs-"));
  const [ca, stranger] = await Promise.all([selfSigned(dir, "ca", "/CN=Identity Test CA"), selfSigned(dir, "foreign-ca", "/CN=Someone Else's CA")]);
  const [server, nextServer, client, foreignClient] = await Promise.all([
    issue(dir, "server", "/CN=localhost/O=first", ca, SERVER),
    issue(dir, "next-server", "/CN=localhost/O=second", ca, SERVER),
    issue(dir, "client", "/CN=billing-service/O=Backends", ca, CLIENT),
    issue(dir, "foreign-client", "/CN=intruder", stranger, CLIENT),
  ]);
  const served = { certFile: join(dir, "served.pem"), keyFile: join(dir, "served.key") };
  const serve = async (issued: Issued) => {
    await Promise.all([copyFile(issued.certFile, served.certFile), copyFile(issued.keyFile, served.keyFile)]);
  };
  await serve(server);
  return {
    dir,
    ca: { file: ca.certFile, pem: await readFile(ca.certFile) },
    server,
    nextServer,
    client,
    foreignClient,
    served,
    serve,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
