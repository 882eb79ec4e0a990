// Run in a folder holding layer1.npy and layer2.npy (float32 features [N, ...]), labels.npy (int64 [N]) and fmnist/
// (Fashion-MNIST IDX files, e.g. a copy of /usr/share/datasets/fashion-mnist).
import { score, train } from 'kqkd';

const kq = await score({ features: ['layer1.npy', 'layer2.npy'], labels: 'labels.npy', datasetSize: 60000, topK: 1 });
for (const l of kq.report.layers) console.log(`${l.name}: S ${l.S} I ${l.I} E ${l.E} Q ${l.Q}${l.selected ? ' (selected)' : ''}`);

const run = await train({
  modelSpec: { name: 'small-cnn', widths: [4, 8] }, dataset: { name: 'fashion-mnist', dir: 'fmnist' },
  epochs: 1, batchSize: 32, optimizer: { type: 'adamw', lr: 0.01 }, runDir: 'run-small-cnn',
});
console.log(`small-cnn, ${run.epochs} epoch: test top-1 ${run.top1Last} %, exported to run-small-cnn/${run.model}`);
