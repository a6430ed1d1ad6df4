// Reads an Arrow IPC file (or stream) with the apache-arrow npm package, an
// implementation independent of streamd's Go code, and prints what it found
// as JSON: the row count and, per column, its Arrow type, null count and a
// sum of its values (decimal text for integers, so nothing is rounded):
//
//   int64, timestamp  sum of the stored integers (BigInt)
//   date32            sum of the day numbers
//   float64           sum in row order, as JavaScript prints it
//   bool              number of true values
//   utf8              total UTF-8 bytes
//   other types       null count only
//
// Usage: node read_arrow.mjs FILE. Run by dataset/node_test.go.
import { readFileSync } from 'node:fs';
import { tableFromIPC, Type } from 'apache-arrow';

const table = tableFromIPC(readFileSync(process.argv[2]));
const out = { rows: table.numRows, columns: {} };
for (const field of table.schema.fields) {
  const vec = table.getChild(field.name);
  const col = { type: String(field.type), nulls: 0 };
  let sum = null;
  let row = 0; // index in the whole column, across its chunks
  for (const d of vec.data) {
    for (let i = 0; i < d.length; i++, row++) {
      if (!d.getValid(i)) { col.nulls++; continue; }
      switch (field.typeId) {
        case Type.Int: case Type.Timestamp:
          sum = (sum ?? 0n) + BigInt(d.values[i]); break;
        case Type.Date:
          sum = (sum ?? 0) + d.values[i]; break;
        case Type.Float:
          sum = (sum ?? 0) + d.values[i]; break;
        case Type.Bool:
          sum = (sum ?? 0) + (vec.get(row) ? 1 : 0); break;
        case Type.Utf8:
          sum = (sum ?? 0) + (d.valueOffsets[i + 1] - d.valueOffsets[i]); break;
        default:
      }
    }
  }
  if (sum !== null) col.sum = String(sum);
  out.columns[field.name] = col;
}
console.log(JSON.stringify(out));
