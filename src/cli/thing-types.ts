import type { Command } from 'commander';
import { assertThingTypeName } from '../identity/names.js';
import type { ThingType } from '../identity/registry.js';
import { dataDirOption, day, printTable, registryConfigOption, withRegistry, type DataDirOptions } from './certs.js';
import { CliError, EXIT, type Io } from './output.js';

// ----------------------------------------------------------------------------------
// gatehouse thing-types create|list|show|deprecate|delete

const collect = (v: string, acc: string[]): string[] => [...acc, v];

export function registerThingTypes(program: Command, io: Io, setExit: (code: number) => void): void {
  const types = program.command('thing-types').description('thing types: a thing\'s type must be declared here, and a deprecated type cannot be given to a thing');

  registryConfigOption(dataDirOption(types.command('create').description('declare a thing type (its properties cannot be changed later)')))
    .argument('<name>', 'type name: 1-128 characters of A-Z a-z 0-9 : _ -')
    .option('--description <text>', 'description: up to 2028 printable ASCII characters')
    .option('--searchable-attribute <name>', 'an attribute name to search by (repeatable, at most 3)', collect, [])
    .action(async (name: string, opts: DataDirOptions & { description?: string; searchableAttribute: string[] }) => {
      assertThingTypeName(name);
      await withRegistry(opts, async (r) => {
        const t = await r.createThingType(name, { ...(opts.description !== undefined ? { description: opts.description } : {}), searchableAttributes: opts.searchableAttribute });
        if (opts.json) io.out(JSON.stringify(typeJson(t)));
        else io.out(`created thing type ${t.name}`);
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(types.command('list').description('list thing types')))
    .action(async (opts: DataDirOptions) => {
      await withRegistry(opts, async (r) => {
        const list = await r.listThingTypes();
        if (opts.json) io.out(JSON.stringify(list.map(typeJson)));
        else if (list.length === 0) io.out('no thing types');
        else printTable(io, ['NAME', 'DEPRECATED', 'SEARCHABLE', 'DESCRIPTION'], list.map((t) => [t.name, t.deprecatedAt !== null ? day(t.deprecatedAt) : '-', t.searchableAttributes.join(',') || '-', t.description ?? '']));
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(types.command('show').description('show a thing type and the things that have it')))
    .argument('<name>', 'type name (case-sensitive)')
    .action(async (name: string, opts: DataDirOptions) => {
      assertThingTypeName(name);
      await withRegistry(opts, async (r) => {
        const t = await r.getThingType(name);
        if (t === undefined) throw new CliError('THING_TYPE_NOT_FOUND', `no thing type named \`${name}\``, EXIT.INVALID, 'names are case-sensitive; list types with `gatehouse thing-types list`');
        const things = await r.thingsOfType(name);
        if (opts.json) io.out(JSON.stringify({ ...typeJson(t), things }));
        else {
          io.out(`thing type ${t.name}`);
          io.out(`  description: ${t.description ?? '-'}`);
          io.out(`  searchable:  ${t.searchableAttributes.length ? t.searchableAttributes.join(', ') : '-'}`);
          io.out(`  created:     ${day(t.createdAt)}`);
          io.out(`  deprecated:  ${t.deprecatedAt !== null ? t.deprecatedAt.toISOString() : 'no'}`);
          io.out(`  things:      ${things.length ? things.join(', ') : '(none)'}`);
        }
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(types.command('deprecate').description('deprecate a thing type (no thing can take it; things that have it keep it), or undo that')))
    .argument('<name>', 'type name (case-sensitive)')
    .option('--undo', 'undeprecate the type')
    .action(async (name: string, opts: DataDirOptions & { undo?: boolean }) => {
      assertThingTypeName(name);
      await withRegistry(opts, async (r) => {
        const undo = opts.undo === true;
        const { changed } = await r.deprecateThingType(name, undo);
        if (opts.json) io.out(JSON.stringify({ name, deprecated: !undo, changed }));
        else io.out(`${changed ? '' : 'already '}${undo ? 'undeprecated' : 'deprecated'} thing type ${name}`);
      });
      setExit(EXIT.OK);
    });

  registryConfigOption(dataDirOption(types.command('delete').description('delete a thing type deprecated at least 5 minutes ago that no thing has')))
    .argument('<name>', 'type name (case-sensitive)')
    .action(async (name: string, opts: DataDirOptions) => {
      assertThingTypeName(name);
      await withRegistry(opts, async (r) => {
        await r.deleteThingType(name);
        if (opts.json) io.out(JSON.stringify({ deleted: name }));
        else io.out(`deleted thing type ${name}`);
      });
      setExit(EXIT.OK);
    });
}

function typeJson(t: ThingType): Record<string, unknown> {
  return {
    name: t.name, description: t.description, searchableAttributes: t.searchableAttributes,
    deprecatedAt: t.deprecatedAt?.toISOString() ?? null, createdAt: t.createdAt.toISOString(),
  };
}
