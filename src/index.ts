// The package's public surface, for products that embed the producer or run
// the service from their own code.
export { loadConfig, type Config } from './config.ts';
export { ErrorCode, ServiceError, ConfigError } from './errors.ts';
export {
  createSignupProducer,
  InvalidSignupError,
  type SignupProducer,
  type SignupProducerOptions,
} from './producers/signup-producer.ts';
export type { EnqueueResult } from './producers/enqueue-signup.ts';
export type { SignupEvent } from './producers/signup-event.ts';
export { startService, type RunningService, type Role } from './service.ts';
