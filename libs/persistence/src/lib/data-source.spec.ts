import { DataSource } from 'typeorm';
import { OrgEntity, createDataSourceOptions, splitDatabaseUrl } from '../index';

describe('createDataSourceOptions', () => {
  it('never synchronizes and lists entities and migrations explicitly', () => {
    const options = createDataSourceOptions('postgres://u@h/db', { poolSize: 3 });
    expect(options.synchronize).toBe(false);
    expect(options.migrationsRun).toBe(false);
    expect(Array.isArray(options.entities) && options.entities.length).toBe(11);
    expect(options.extra).toMatchObject({ max: 3 });
  });

  it('maps every entity onto the migrated schema', async () => {
    const ds = new DataSource(createDataSourceOptions(process.env.DATABASE_URL as string, { poolSize: 1 }));
    await ds.initialize();
    try {
      const org = await ds.getRepository(OrgEntity).save({ name: 'Acme', slug: 'acme-data-source' });
      expect(org.id).toMatch(/^[0-9a-f-]{36}$/);
      for (const entity of ds.entityMetadatas) {
        // Selecting every mapped column proves each column name exists in the migrated table.
        await expect(ds.getRepository(entity.target).find({ take: 1 })).resolves.toBeDefined();
      }
    } finally {
      await ds.destroy();
    }
  });

  it('splits a URL into the database and the maintenance database', () => {
    expect(splitDatabaseUrl('postgres://u:p@h:5432/signet_x')).toEqual({
      database: 'signet_x',
      maintenanceUrl: 'postgres://u:p@h:5432/postgres',
    });
  });
});
