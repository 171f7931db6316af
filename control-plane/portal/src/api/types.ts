/** Wire types of the management API (`/api/v1`), exactly as the server sends them. */

export type Language = "en" | "zh-CN";
export type DeveloperType = "individual" | "enterprise";
export type Role = "developer" | "admin";
export type SignupPolicy = "open" | "invite_only" | "closed";

/** `GET /api/v1/auth/config`: what the sign-up and sign-in pages may offer. */
export interface AuthConfig {
  signup: SignupPolicy;
  email_verification_required: boolean;
  languages: Language[];
}

/** The signed-in developer's own account. */
export interface Profile {
  id: string;
  email: string;
  full_name: string;
  company_name: string | null;
  developer_type: DeveloperType;
  role: Role;
  email_verified: boolean;
  language: Language;
  created_at_ms: number;
  api_rate_limit: number | null;
  api_quota_limit: number | null;
}

/** Answer of login and refresh. */
export interface Session {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token: string;
  developer: Profile;
}

export interface RegisterRequest {
  email: string;
  password: string;
  full_name: string;
  company_name?: string;
  developer_type: DeveloperType;
  language?: Language;
  invite_code?: string;
}

export interface ProfileUpdate {
  full_name?: string;
  company_name?: string;
  developer_type?: DeveloperType;
  language?: Language;
}

/** The management API's one error body. */
export interface ErrorBody {
  error: { code: string; message: string };
}
