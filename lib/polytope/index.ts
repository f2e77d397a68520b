export { ConvexBody, halfspaces, spectrahedron } from './body.js';
export { lewisWeights, johnEllipsoid } from './john.js';
export type { LewisOptions, LewisResult, JohnOptions, JohnResult, JohnReport } from './john.js';
export type { CsrMatrix, DenseMatrix, MatrixInput, VectorInput } from './matrix.js';
