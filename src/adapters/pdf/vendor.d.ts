// The parts of `linebreak` (UAX #14 line breaking, also used inside pdfkit) this adapter uses;
// the package ships no types.
declare module 'linebreak' {
  export interface Break {
    position: number;
    required: boolean;
  }
  export default class LineBreaker {
    constructor(text: string);
    nextBreak(): Break | null;
  }
}
