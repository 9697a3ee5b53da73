export declare const ROOT: string;
export declare function sourceHash(root?: string): string;
export declare function builtHash(root?: string): string | null;
