import { Command } from '../command';
import { card } from './card';
import { deregister } from './deregister';
import { get } from './get';
import { health } from './health';
import { keys } from './keys';
import { list } from './list';
import { watch } from './watch';

/** Every command, in the order the overview lists them. */
export const commands: Command[] = [list, get, card, watch, deregister, health, keys];
