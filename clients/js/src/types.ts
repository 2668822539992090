/** A stored, verified file (the API's file record). */
export interface SluiceFile {
  id: string;
  key: string;
  filename?: string;
  content_type: string;
  size: number;
  sha256?: string;
  etag?: string;
  created_at: string;
}

/** The answer to POST /v1/uploads: where and how to send the bytes. */
export interface UploadGrant {
  id: string;
  key: string;
  method: 'PUT' | 'POST';
  url: string;
  headers: Record<string, string>;
  fields: Record<string, string>;
  expires_at: string;
  max_size: number;
}
