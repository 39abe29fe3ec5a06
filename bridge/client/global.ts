/**
 * The plain-script build: `<script src="https://identity.example/static/js/jwt-client.js">`
 * sets `window.jwtClient`, talking to the `/api` of the origin the script came from
 * (or to the `data-api-base` attribute of the script tag).
 */
import { createJwtClient } from "./jwt-client.js";

const script = document.currentScript instanceof HTMLScriptElement ? document.currentScript : null;
const baseUrl = script?.dataset.apiBase ?? (script?.src ? new URL("/api", script.src).href : "/api");

window.jwtClient = createJwtClient({ baseUrl });
