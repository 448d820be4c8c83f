// Sandbox code: URL and URLSearchParams from whatwg-url, the URL standard's reference
// implementation (WebIDL-generated wrappers, IDNA through tr46).
import { URL, URLSearchParams } from "whatwg-url";

export { URL, URLSearchParams };
