// Test services written with the real Restate TypeScript SDK (@restatedev/restate-sdk).
// Served over HTTP/2 cleartext on the port given as PORT (0: any free port); prints
// "RT_ENDPOINT_PORT=<port>" once listening, which the protocol tests read.
import * as restate from "@restatedev/restate-sdk";

// The SDK calls Promise.withResolvers for every request; Node.js has it from 22 on, the
// machines run Node.js 20.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

const greeter = restate.service({
  name: "JsGreeter",
  description: "Says hello from Node.js",
  handlers: {
    greet: async (ctx, name) => `Hello ${name} from JS`,
    twice: async (ctx, n) => {
      const doubled = await ctx.run("double", () => n * 2);
      return await ctx.run("double again", () => doubled * 2);
    },
  },
});

const counter = restate.object({
  name: "JsCounter",
  handlers: {
    add: async (ctx, n) => {
      const count = ((await ctx.get("count")) ?? 0) + n;
      ctx.set("count", count);
      return count;
    },
    get: restate.handlers.object.shared(async (ctx) => (await ctx.get("count")) ?? 0),
  },
  options: { enableLazyState: false, inactivityTimeout: { seconds: 30 } },
});

const sleeper = restate.service({
  name: "JsSleeper",
  handlers: {
    nap: async (ctx, ms) => {
      await ctx.sleep(ms);
      return `slept ${ms}`;
    },
  },
});

const port = await restate.serve({
  services: [greeter, counter, sleeper],
  port: Number(process.env.PORT ?? 0),
});
console.log(`RT_ENDPOINT_PORT=${port}`);
