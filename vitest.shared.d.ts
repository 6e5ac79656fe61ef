export declare function sharedTestConfig(name: string): import("vitest/node").InlineConfig;
