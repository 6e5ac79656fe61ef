export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** One line per message, timestamped, to stderr (what `kubectl logs` shows). Messages are already redacted. */
export function consoleLogger(write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const line = (level: string, message: string) => write(`${new Date().toISOString()} ${level} ${message}\n`);
  return {
    info: (m) => line("info ", m),
    warn: (m) => line("warn ", m),
    error: (m) => line("error", m),
  };
}
