import { MigrationObject } from '@mikro-orm/core';
import { DynamicModule, ForwardReference, Type } from '@nestjs/common';
import { MODULE_METADATA } from '@nestjs/common/constants';
import { Dialect } from './dialect';

/** A MikroORM entity class. */
export type EntityClass = abstract new (...args: never[]) => object;

/**
 * The tables a module brings: its entities, and the committed migrations that create and change their tables, one
 * list per dialect (both databases the registry runs on), oldest first. Migration names share one migrations table
 * with the core's and every other module's: prefix them with the module's name (`WebhookNotifier20261207150000`).
 */
export interface DatabaseFeature {
  entities?: EntityClass[];
  migrations?: { sqlite: MigrationObject[]; postgresql: MigrationObject[] };
}

/** The features the app's ORM was configured with. */
export const DATABASE_FEATURES = Symbol('agent-registry:database-features');

/** The features DatabaseModule.forFeature returned, by the dynamic module it returned for each. */
const declared = new WeakMap<object, DatabaseFeature>();

/** Marks `module` (what DatabaseModule.forFeature returns) as declaring `feature`. */
export function declareFeature(module: DynamicModule, feature: DatabaseFeature): DynamicModule {
  declared.set(module, feature);
  return module;
}

type Import = Type | DynamicModule | Promise<DynamicModule> | ForwardReference<() => unknown>;

/**
 * The database features declared anywhere in the import graph of `imports` (each once, in the order met, depth
 * first): read from the modules' metadata before Nest builds them, because the ORM must know every entity and
 * migration when it starts, before any module's providers exist.
 */
export function featuresIn(imports: readonly Import[]): DatabaseFeature[] {
  const found: DatabaseFeature[] = [];
  const seen = new Set<unknown>();
  const visit = (item: Import | undefined): void => {
    if (!item || seen.has(item) || item instanceof Promise) return;
    seen.add(item);
    if ('forwardRef' in item) return visit((item as ForwardReference<() => Import>).forwardRef());
    const feature = declared.get(item);
    if (feature) found.push(feature);
    const dynamic = 'module' in item ? item : undefined;
    (dynamic?.imports ?? []).forEach((child) => visit(child as Import));
    const type = dynamic ? dynamic.module : (item as Type);
    if (dynamic) {
      if (seen.has(type)) return;
      seen.add(type);
    }
    ((Reflect.getMetadata(MODULE_METADATA.IMPORTS, type) as Import[] | undefined) ?? []).forEach(visit);
  };
  imports.forEach(visit);
  return found;
}

/**
 * The entities and migrations of `features` for one dialect, after the core's: entities once each, migrations in
 * order. Throws on two migrations of one name (they would share one row of the migrations table).
 */
export function mergeFeatures(
  features: readonly DatabaseFeature[],
  dialect: Dialect,
): { entities: EntityClass[]; migrations: MigrationObject[] } {
  const entities = [...new Set(features.flatMap((feature) => feature.entities ?? []))];
  const migrations = features.flatMap((feature) => feature.migrations?.[dialect] ?? []);
  const names = new Set<string>();
  for (const { name } of migrations) {
    if (names.has(name)) throw new Error(`Two ${dialect} migrations are named ${name}: each needs a unique name`);
    names.add(name);
  }
  return { entities, migrations };
}
