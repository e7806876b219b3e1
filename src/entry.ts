// The executable's entry: as small as can be, so its first statement runs as early as the runtime
// allows (the rest of zinit is a separate chunk, loaded next). For `init`, startup.ts catches the
// stop signals from that first statement on.
import "./sys/startup.ts";

await import("./main.ts");
