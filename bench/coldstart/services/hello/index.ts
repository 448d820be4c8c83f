export default {
  fetch(): Response {
    return new Response("hello world");
  },
};
