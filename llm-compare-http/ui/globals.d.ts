// The vendored libraries (ui/vendor/), loaded as classic scripts: what the UI uses of them.
interface Window {
  marked?: {
    use(options: unknown): void;
    parse(text: string, options: { async: false }): string;
  };
  DOMPurify?: { sanitize(html: string): string };
  hljs?: {
    getLanguage(name: string): unknown;
    highlight(code: string, options: { language: string; ignoreIllegals: boolean }): { value: string };
  };
}
