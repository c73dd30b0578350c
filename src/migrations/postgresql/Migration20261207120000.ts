import { backfillSearchColumns } from '../../registry/persistence/search-backfill';
import { BackfillMigration } from '../../database/backfill-migration';

/**
 * The same as SQLite's migration of this name: search_text (and search_name) recomputed for the agents already
 * stored, each chunk's rows locked while it is rewritten, as replicas still running may register meanwhile.
 */
export class Migration20261207120000 extends BackfillMigration {
  backfill(): Promise<number> {
    return backfillSearchColumns(this.connection(), { lockRows: true });
  }

  /** Nothing to undo: older code reads the added words as a wider `q=` match, until the agent registers again. */
  override down(): void {
    // Nothing to undo.
  }
}
