import type { Command } from 'commander';
import { assertThingGroupName, assertThingName } from '../identity/names.js';
import type { ThingGroup } from '../identity/registry.js';
import { dataDirOption, day, isoOrNull, printTable, registryConfigOption, withRegistry, type DataDirOptions } from './certs.js';
import { CliError, EXIT, type Io } from './output.js';

// ----------------------------------------------------------------------------------
// gatehouse thing-groups create|list|show|delete|add-thing|remove-thing

export function registerThingGroups(program: Command, io: Io, setExit: (code: number) => void): void {
  const groups = program.command('thing-groups').description('static thing groups: things in a group get the policies attached to it and to its parent groups');

  registryConfigOption(dataDirOption(groups.command('create').description('create a static thing group (its parent cannot be changed later)')))
    .argument('<name>', 'group name: 1-128 characters of A-Z a-z 0-9 : _ -')
    .option('--parent <group>', 'parent group (must exist)')
    .option('--description <text>', 'description: up to 2028 printable ASCII characters')
    .action(async (name: string, opts: DataDirOptions & { parent?: string; description?: string }) => {
      assertThingGroupName(name);
      await withRegistry(opts, async (r) => {
        const g = await r.createThingGroup(name, { ...(opts.parent !== undefined ? { parent: opts.parent } : {}), ...(opts.description !== undefined ? { description: opts.description } : {}) });
        if (opts.json) io.out(JSON.stringify(groupJson(g)));
        else io.out(`created thing group ${g.name}${g.parent !== null ? ` (child of ${g.parent})` : ''}`);
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(groups.command('list').description('list thing groups')))
    .action(async (opts: DataDirOptions) => {
      await withRegistry(opts, async (r) => {
        const list = await r.listThingGroups();
        if (opts.json) io.out(JSON.stringify(list.map(groupJson)));
        else if (list.length === 0) io.out('no thing groups');
        else printTable(io, ['NAME', 'PARENT', 'DESCRIPTION'], list.map((g) => [g.name, g.parent ?? '-', g.description ?? '']));
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(groups.command('show').description('show a thing group, its members and its policies')))
    .argument('<name>', 'group name (case-sensitive)')
    .action(async (name: string, opts: DataDirOptions) => {
      assertThingGroupName(name);
      await withRegistry(opts, async (r) => {
        const g = await r.getThingGroup(name);
        if (g === undefined) throw new CliError('THING_GROUP_NOT_FOUND', `no thing group named \`${name}\``, EXIT.INVALID, 'names are case-sensitive; list groups with `gatehouse thing-groups list`');
        const things = await r.thingsInGroup(name);
        const policies = await r.policiesForTarget({ kind: 'thingGroup', groupName: name });
        if (opts.json) io.out(JSON.stringify({ ...groupJson(g), things, policies }));
        else {
          io.out(`thing group ${g.name}`);
          io.out(`  parent:      ${g.parent ?? '-'}`);
          io.out(`  description: ${g.description ?? '-'}`);
          io.out(`  created:     ${day(g.createdAt)}`);
          io.out(`  policies:    ${policies.length ? policies.join(', ') : '(none attached directly)'}`);
          io.out(`  things:      ${things.length ? things.join(', ') : '(none)'}`);
        }
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(groups.command('delete').description('delete a thing group (no child groups and no policies attached; its memberships are removed)')))
    .argument('<name>', 'group name (case-sensitive)')
    .action(async (name: string, opts: DataDirOptions) => {
      assertThingGroupName(name);
      await withRegistry(opts, async (r) => {
        const things = await r.thingsInGroup(name);
        await r.deleteThingGroup(name);
        if (opts.json) io.out(JSON.stringify({ deleted: name, removedThings: things }));
        else io.out(`deleted thing group ${name}${things.length ? ` (removed ${things.length} thing${things.length === 1 ? '' : 's'} from it)` : ''}`);
      });
      setExit(EXIT.OK);
    });

  for (const verb of ['add-thing', 'remove-thing'] as const) {
    registryConfigOption(dataDirOption(groups.command(verb).description(verb === 'add-thing' ? 'add a thing to a group (at most 10 groups per thing, one per hierarchy)' : 'remove a thing from a group')))
      .argument('<group>', 'group name (case-sensitive)')
      .argument('<thing>', 'thing name (case-sensitive)')
      .addHelpText('after', '\nA running gateway sharing the data directory applies the change within a second.')
      .action(async (group: string, thing: string, opts: DataDirOptions) => {
        assertThingGroupName(group);
        assertThingName(thing);
        await withRegistry(opts, async (r) => {
          let changed = true;
          if (verb === 'add-thing') ({ changed } = await r.addThingToGroup(group, thing));
          else await r.removeThingFromGroup(group, thing);
          if (opts.json) io.out(JSON.stringify({ group, thing, [verb === 'add-thing' ? 'added' : 'removed']: true, changed }));
          else if (verb === 'add-thing') io.out(changed ? `added ${thing} to ${group}` : `${thing} was already in ${group}`);
          else io.out(`removed ${thing} from ${group}`);
        });
        setExit(EXIT.OK);
      });
  }
}

function groupJson(g: ThingGroup): Record<string, unknown> {
  return { name: g.name, parent: g.parent, description: g.description, createdAt: isoOrNull(g.createdAt) };
}
