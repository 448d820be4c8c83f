export default {
  fetch(request: Request): Response {
    const path = new URL(request.url).pathname;
    if (path === "/a/loop") for (;;);
    if (path === "/a/oom") {
      const hoard: number[][] = [];
      for (;;) hoard.push(new Array(1e6).fill(1));
    }
    return new Response("a");
  },
};
