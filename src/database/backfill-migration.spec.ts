import { BackfillMigration } from './backfill-migration';

class Migration20990101000000 extends BackfillMigration {
  backfill(): Promise<number> {
    return Promise.resolve(3);
  }
}

describe('BackfillMigration', () => {
  const migration = () => new Migration20990101000000({} as never, {} as never);

  it('refuses to be recorded by a migrator that did not run its backfill (the MikroORM CLI)', () => {
    expect(() => migration().up()).toThrow(/Migration20990101000000 rewrites stored rows outside the migrator/);
  });

  it('is recorded once applyMigrations has run its backfill', async () => {
    expect(await BackfillMigration.run('Migration20990101000000', migration())).toBe(3);
    expect(() => migration().up()).not.toThrow();
  });
});
