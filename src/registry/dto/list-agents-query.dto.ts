import { Transform } from 'class-transformer';
import { IsBoolean } from 'class-validator';
import { toBoolean } from '../../common/to-boolean';

export class ListAgentsQuery {
  /**
   * Also return agents whose lease has run out but which cleanup has not removed yet (`is_alive: false`).
   * Accepts true/false, 1/0, yes/no, on/off.
   * @example false
   */
  @Transform(toBoolean)
  @IsBoolean({ message: 'include_dead must be true or false' })
  include_dead?: boolean = false;
}
