import { MigrationObject } from '@mikro-orm/core';
import { Migration20261127014505 } from './Migration20261127014505';

/** Every committed migration, oldest first. Add each new one here. */
export const migrationsList: MigrationObject[] = [{ name: 'Migration20261127014505', class: Migration20261127014505 }];
