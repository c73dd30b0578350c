import { LogLevel } from '@nestjs/common';
import { IsIn } from 'class-validator';
import { ConfigSection } from '../config/environment';

const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];
const LOG_LEVEL_NAMES = [...LOG_LEVELS, 'info'];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggingSection {
  logLevels: LogLevel[];
  /** One JSON object per line, or pino-pretty's coloured lines for a terminal. */
  logFormat: LogFormat;
}

class LoggingVariables {
  @IsIn(LOG_LEVEL_NAMES, { message: `must be one of ${LOG_LEVEL_NAMES.join(', ')}` })
  LOG_LEVEL: string = 'log';

  @IsIn(LOG_FORMATS, { message: `must be one of ${LOG_FORMATS.join(', ')}` })
  LOG_FORMAT: LogFormat = 'json';
}

export const loggingSection: ConfigSection<LoggingVariables, LoggingSection> = {
  variables: LoggingVariables,
  slice(vars: LoggingVariables): LoggingSection {
    const level = vars.LOG_LEVEL === 'info' ? 'log' : (vars.LOG_LEVEL as LogLevel);
    return { logLevels: LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1), logFormat: vars.LOG_FORMAT };
  },
};
