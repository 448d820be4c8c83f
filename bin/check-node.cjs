// `preinstall`: npm only warns about "engines"; an install on a Node.js that cannot run Stratus
// fails here, naming the version it needs. CommonJS and old syntax, so any Node.js can run it.
"use strict";
var major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  process.stderr.write(
    "stratus: Node.js " +
      process.versions.node +
      " is too old; Stratus needs Node.js 24 or later.\n" +
      "  Install it with: npm install -g --prefix /usr/local node@24 (or nvm install 24), then install again.\n",
  );
  process.exit(1);
}
