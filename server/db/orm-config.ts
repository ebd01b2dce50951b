// Configuration for the MikroORM CLI (npm run migration:create). The hub itself uses openOrm().
import { ormOptions } from './orm.js';

export default ormOptions(process.env.DATABASE_URL ?? 'postgres://distr:distr@127.0.0.1:5432/distr');
