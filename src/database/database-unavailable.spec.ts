import { DriverException, TableNotFoundException, UniqueConstraintViolationException } from '@mikro-orm/core';
import { databaseUnavailableReason } from './database-unavailable';

const withCode = (code: string, message = 'failed') => Object.assign(new Error(message), { code });

describe('databaseUnavailableReason', () => {
  it.each([
    ['connection refused', withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')],
    ['connection reset', withCode('ECONNRESET')],
    ['unknown host', withCode('ENOTFOUND')],
    ['PostgreSQL shutting down (57P01)', withCode('57P01', 'terminating connection due to administrator command')],
    ['PostgreSQL starting up (57P03)', withCode('57P03', 'the database system is starting up')],
    ['statement_timeout (57014)', withCode('57014', 'canceling statement due to statement timeout')],
    ['too many connections (53300)', withCode('53300')],
    ['connection failure (08006)', withCode('08006')],
    ['a read-only standby after failover (25006)', withCode('25006')],
    ['SQLite locked past busy_timeout', withCode('SQLITE_BUSY', 'SQLITE_BUSY: database is locked')],
    ['pool exhausted', Object.assign(new Error('Timeout'), { name: 'KnexTimeoutError' })],
    [
      'pool exhausted, wrapped',
      new DriverException(
        new Error(
          'Knex: Timeout acquiring a connection. The pool is probably full. Are you missing a .transacting(trx) call?',
        ),
      ),
    ],
    ['pool destroyed', new Error('Unable to acquire a connection')],
    ['socket closed mid-query', new Error('select 1 - Connection terminated unexpectedly')],
    [
      'a statement in a transaction whose BEGIN failed',
      new Error('Transaction query already complete, run with DEBUG=knex:tx for more info'),
    ],
    ['connect timeout, opening a transaction', new Error('timeout expired')],
    ['client-side query timeout', new Error('update "agent_record" set … - Query read timeout')],
    ['a wrapped socket error', new DriverException(withCode('ECONNREFUSED'))],
    ['a socket error as the cause', new Error('query failed', { cause: withCode('ECONNRESET') })],
  ])('%s: yes', (_, error) => {
    expect(databaseUnavailableReason(error)).toEqual(expect.any(String));
  });

  it.each([
    ['a missing table', new TableNotFoundException(withCode('42P01', 'relation "agent_record" does not exist'))],
    ['a constraint violation', new UniqueConstraintViolationException(withCode('23505'))],
    ['a syntax error', withCode('42601')],
    ['SQLite: a conflict within one connection', withCode('SQLITE_LOCKED')],
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['a message that merely mentions a timeout', new Error('Query read timeout exceeded by user input')],
    ['not an error', 'ECONNREFUSED'],
    ['nothing', undefined],
  ])('%s: no', (_, error) => {
    expect(databaseUnavailableReason(error)).toBeUndefined();
  });

  it('names the code or the fixed message, never the SQL or its values', () => {
    expect(databaseUnavailableReason(withCode('57014', "update agent_record set metadata = 'secret'"))).toBe('57014');
    expect(
      databaseUnavailableReason(new Error("insert into agent_record values ('secret') - Query read timeout")),
    ).toBe('Query read timeout');
    expect(
      databaseUnavailableReason(
        new Error(
          'Knex: Timeout acquiring a connection. The pool is probably full. Are you missing a .transacting(trx) call?',
        ),
      ),
    ).toBe('Knex: Timeout acquiring a connection');
  });
});
