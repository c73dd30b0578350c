import { Command } from '../command.js';
import { card } from './card.js';
import { deregister } from './deregister.js';
import { get } from './get.js';
import { health } from './health.js';
import { keys } from './keys.js';
import { list } from './list.js';
import { watch } from './watch.js';

/** Every command, in the order the overview lists them. */
export const commands: Command[] = [list, get, card, watch, deregister, health, keys];
