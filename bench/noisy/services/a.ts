// The neighbour: /a/burn spends a fixed amount of CPU (about 20 ms on the bench machine, alone),
// /a/loop never returns, /a/oom allocates until the isolate's heap limit.
const BURN = 6_500_000;

export default {
  fetch(request: Request): Response {
    const path = new URL(request.url).pathname;
    if (path === "/a/loop") for (;;);
    if (path === "/a/oom") {
      const hoard: number[][] = [];
      for (;;) hoard.push(new Array(1e6).fill(1));
    }
    if (path === "/a/burn") {
      let x = 1;
      for (let i = 0; i < BURN; i++) x = (Math.imul(x, 31) + i) | 0;
      return new Response(String(x));
    }
    return new Response("a");
  },
};
