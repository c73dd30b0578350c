import { Module } from '@nestjs/common';
import { featuresIn, mergeFeatures } from './database-feature';
import { DatabaseModule } from './database.module';

class A {}
class B {}
class Migration1 {}

describe('featuresIn', () => {
  it("finds the features declared anywhere in the modules' imports, once each, in the order met", () => {
    const first = { entities: [A] };
    const second = { entities: [B] };
    @Module({ imports: [DatabaseModule.forFeature(second)] })
    class Inner {}
    @Module({ imports: [DatabaseModule.forFeature(first), Inner] })
    class Outer {}
    const dynamic = { module: Outer, imports: [Inner] };
    expect(featuresIn([Outer, dynamic, Inner])).toEqual([first, second]);
  });

  it('finds none in modules that declare none', () => {
    @Module({})
    class Plain {}
    expect(featuresIn([Plain, { module: Plain }])).toEqual([]);
  });
});

describe('mergeFeatures', () => {
  it("lists each entity once and the dialect's migrations in order", () => {
    const m = (name: string) => ({ name, class: Migration1 as never });
    const merged = mergeFeatures(
      [
        { entities: [A], migrations: { sqlite: [m('Core1')], postgresql: [m('CorePg')] } },
        { entities: [A, B], migrations: { sqlite: [m('Ext1')], postgresql: [] } },
      ],
      'sqlite',
    );
    expect(merged.entities).toEqual([A, B]);
    expect(merged.migrations.map((x) => x.name)).toEqual(['Core1', 'Ext1']);
  });

  it('refuses two migrations of one name: they would share one row of the migrations table', () => {
    const m = { name: 'Migration20261127014505', class: Migration1 as never };
    expect(() =>
      mergeFeatures(
        [{ migrations: { sqlite: [m], postgresql: [] } }, { migrations: { sqlite: [m], postgresql: [] } }],
        'sqlite',
      ),
    ).toThrow('Two sqlite migrations are named Migration20261127014505: each needs a unique name');
  });
});
