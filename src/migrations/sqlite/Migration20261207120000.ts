import { backfillSearchColumns } from '../../registry/persistence/search-backfill';
import { BackfillMigration } from '../../database/backfill-migration';

/**
 * `q=` also searches the card's skill descriptions: recomputes search_text (and search_name) of the agents already
 * stored, in chunks (see BackfillMigration); the agent_search triggers re-index the rows it rewrites.
 */
export class Migration20261207120000 extends BackfillMigration {
  backfill(): Promise<number> {
    return backfillSearchColumns(this.connection(), { lockRows: false });
  }

  /** Nothing to undo: older code reads the added words as a wider `q=` match, until the agent registers again. */
  override down(): void {
    // Nothing to undo.
  }
}
