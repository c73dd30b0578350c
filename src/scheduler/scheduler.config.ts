import { Transform } from 'class-transformer';
import { IsNumber, IsString, Matches, Max, Min } from 'class-validator';
import { validateCronExpression } from 'cron';
import { ConfigSection, Problems } from '../config/environment';
import { IntegerBetween, parseDuration } from '../config/parsers';
import { gapText, longestCronGapMs } from './cron-gap';

/** Expiry: when the cleanup runs, the restart grace and the mass-expiry guard. */
export interface SchedulerSection {
  /** When the cleanup runs; undefined (CLEANUP_CRON=off) when this replica never runs it. */
  cleanupCron: string | undefined;
  /** A gap this long without any replica serving extends the leases that ran out in it; undefined: never. */
  restartGraceAfterMs?: number;
  /** The mass-expiry guard (see ExpiryGuard). */
  expiryGuard: { ratio: number; min: number; maxMs: number };
}

class SchedulerVariables {
  /** A cron expression with seconds, or `off`: this replica never runs the cleanup (another one does). */
  @IsString()
  CLEANUP_CRON: string = '0 * * * * *';

  @Matches(/^(off|\d+\s*(ms|s|m|h|d)?)$/i, { message: 'must be a duration (10s to 1d) or off' })
  RESTART_GRACE_AFTER: string = '15s';

  /** 1 turns the guard off: more than all of them can never expire. */
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? Number(value) : value))
  @IsNumber({}, { message: 'must be a number between 0 and 1' })
  @Min(0, { message: 'must be a number between 0 and 1' })
  @Max(1, { message: 'must be a number between 0 and 1' })
  EXPIRY_GUARD_RATIO: number = 0.5;

  @IntegerBetween(1, 1_000_000)
  EXPIRY_GUARD_MIN: number = 10;

  @IntegerBetween(60, 86_400)
  EXPIRY_GUARD_MAX_SECONDS: number = 900;
}

export const schedulerSection: ConfigSection<SchedulerVariables, SchedulerSection> = {
  variables: SchedulerVariables,
  slice(vars: SchedulerVariables, problems: Problems): SchedulerSection {
    const cleanupOff = vars.CLEANUP_CRON.trim().toLowerCase() === 'off';
    const cron = cleanupOff ? { valid: true } : validateCronExpression(vars.CLEANUP_CRON);
    if (!cron.valid) {
      problems.add(
        'CLEANUP_CRON',
        `CLEANUP_CRON=${JSON.stringify(vars.CLEANUP_CRON)} is not a valid cron expression: ${cron.error?.message}`,
      );
    }
    // The guard decides at cleanup runs only: a hold cannot end sooner than the next run.
    const cleanupGapMs = cron.valid && !cleanupOff ? longestCronGapMs(vars.CLEANUP_CRON) : 0;
    if (vars.EXPIRY_GUARD_RATIO < 1 && cleanupGapMs > vars.EXPIRY_GUARD_MAX_SECONDS * 1000) {
      problems.add(
        'CLEANUP_CRON',
        `CLEANUP_CRON=${JSON.stringify(vars.CLEANUP_CRON)} runs as much as ${gapText(cleanupGapMs)} apart, longer ` +
          `than EXPIRY_GUARD_MAX_SECONDS (${vars.EXPIRY_GUARD_MAX_SECONDS}): the mass-expiry guard decides at ` +
          'cleanup runs and could hold longer than that; run the cleanup more often, raise ' +
          'EXPIRY_GUARD_MAX_SECONDS, or turn the guard off with EXPIRY_GUARD_RATIO=1',
      );
    }
    const restartGraceAfterMs =
      vars.RESTART_GRACE_AFTER.trim().toLowerCase() === 'off' ? undefined : parseDuration(vars.RESTART_GRACE_AFTER);
    if (restartGraceAfterMs !== undefined && (restartGraceAfterMs < 10_000 || restartGraceAfterMs > 86_400_000)) {
      problems.add(
        'RESTART_GRACE_AFTER',
        `RESTART_GRACE_AFTER=${JSON.stringify(vars.RESTART_GRACE_AFTER)} must be between 10s and 1d, or off`,
      );
    }
    return {
      cleanupCron: cleanupOff ? undefined : vars.CLEANUP_CRON,
      restartGraceAfterMs,
      expiryGuard: {
        ratio: vars.EXPIRY_GUARD_RATIO,
        min: vars.EXPIRY_GUARD_MIN,
        maxMs: vars.EXPIRY_GUARD_MAX_SECONDS * 1000,
      },
    };
  },
};
