/** The subset of Fivetran's objects this service reads. */
export interface FivetranPackage {
  id: string;
  connection_id: string | null;
  created_at: string;
  file_sha256_hash?: string;
}

export interface FivetranConnection {
  id: string;
  group_id: string;
  schema: string;
  connect_card?: { token?: string; uri: string };
  config?: { package_id?: string };
}

export interface ConnectionRequest {
  group_id: string;
  service: 'connector_sdk';
  run_setup_tests: false;
  paused: boolean;
  destination_schema_names: 'FIVETRAN_NAMING';
  config: {
    schema: string;
    package_id: string;
    secrets_list: { key: string; value: string }[];
    python_version?: string;
  };
  connect_card_config: { redirect_uri: string; hide_setup_guide?: boolean };
}

export interface Page<T> {
  items: T[];
  nextCursor: string | undefined;
}
