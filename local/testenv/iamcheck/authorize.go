package iamcheck

import (
	"fmt"
	"sort"
	"strings"
)

// Authorizations are the authorizations AWS performs for a call, each with
// the condition keys the request carries. Sources, cited per operation:
//   - the Service Authorization Reference: which action, resource type and
//     condition keys (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html,
//     list_amazondynamodb.html, list_amazonrds.html, list_awskeymanagementservice.html);
//   - each API's "Required permissions" (Secrets Manager API reference);
//   - aws:ResourceTag "is included in the request context when the
//     requested resource already has attached tags or in requests that
//     create a resource with an attached tag" (IAM User Guide, global
//     condition context keys): a CreateSecret's own tags are its resource
//     tags;
//   - Secrets Manager's KMS use (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html):
//     GenerateDataKey to encrypt a new version, Decrypt to read one, with
//     kms:ViaService secretsmanager.<Region>.amazonaws.com and the
//     encryption context SecretARN and SecretVersionId; a replica encrypts
//     with its Region's key (GenerateDataKey and Encrypt,
//     https://docs.aws.amazon.com/secretsmanager/latest/userguide/troubleshoot_replication.html).
//
// partitionKeys names each table's partition key attribute, for
// dynamodb:LeadingKeys.
func Authorizations(c Call, partitionKeys map[string]string) ([]Request, error) {
	switch c.Service {
	case "secretsmanager":
		return secretsManager(c)
	case "dynamodb":
		return dynamoDB(c, partitionKeys)
	case "rds":
		return rds(c)
	case "kms":
		return keyManagement(c)
	case "scheduler":
		return schedules(c)
	case "sts":
		// GetCallerIdentity: "No permissions are required to perform this
		// operation" (STS API reference).
		if c.Operation == "GetCallerIdentity" {
			return nil, nil
		}
	}
	return nil, fmt.Errorf("%s.%s: no mapping to IAM for this service", c.Service, c.Operation)
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// secretARN is the ARN IAM sees for the secret a call names: the existing
// secret's, or for one that does not exist (yet) the ARN its name would get.
func secretARN(c Call, name string) string {
	if c.Secret != nil {
		return c.Secret.ARN
	}
	if strings.HasPrefix(name, "arn:") {
		return name
	}
	return "arn:aws:secretsmanager:" + c.Region + ":" + AccountID + ":secret:" + name + "-AbCdEf"
}

func resourceTags(ctx map[string]any, tags map[string]string) {
	for k, v := range tags {
		ctx["aws:ResourceTag/"+k] = v
	}
}

func requestTags(ctx map[string]any, tags []any) map[string]string {
	out := map[string]string{}
	var keys []string
	for _, t := range tags {
		m, _ := t.(map[string]any)
		k, v := str(m, "Key"), str(m, "Value")
		out[k] = v
		ctx["aws:RequestTag/"+k] = v
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		ctx["aws:TagKeys"] = keys
	}
	return out
}

// kmsKeyARN is the ARN IAM sees for a KmsKeyId in region: an alias stands
// for the key it names, whose id the call does not show.
func kmsKeyARN(id, region string) string {
	switch {
	case strings.HasPrefix(id, "arn:"):
		if strings.Contains(id, ":alias/") {
			return strings.SplitN(id, ":alias/", 2)[0] + ":key/00000000-0000-4000-8000-000000000000"
		}
		return id
	case strings.HasPrefix(id, "alias/"):
		return "arn:aws:kms:" + region + ":" + AccountID + ":key/00000000-0000-4000-8000-000000000000"
	}
	return "arn:aws:kms:" + region + ":" + AccountID + ":key/" + id
}

// defaultKeyPolicy is the key policy KMS gives a key made without one: the
// account's IAM policies decide
// (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html).
func defaultKeyPolicy(account string) map[string]any {
	return map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Sid": "Enable IAM User Permissions", "Effect": "Allow",
		"Principal": map[string]any{"AWS": "arn:aws:iam::" + account + ":root"}, "Action": "kms:*", "Resource": "*"}}}
}

// viaSecretsManager is what KMS sees when Secrets Manager uses a customer
// managed key on the caller's behalf. The AWS managed key aws/secretsmanager
// needs no permission of the caller's: its key policy allows the account's
// principals through Secrets Manager.
func viaSecretsManager(actions []string, keyID, region, secret, why string) []Request {
	if keyID == "" || strings.HasSuffix(keyID, "alias/aws/secretsmanager") {
		return nil
	}
	var out []Request
	for _, a := range actions {
		out = append(out, Request{Action: a, Resource: kmsKeyARN(keyID, region), Why: why,
			ResourcePolicy: defaultKeyPolicy(accountOf(kmsKeyARN(keyID, region))),
			Context: map[string]any{"kms:ViaService": "secretsmanager." + region + ".amazonaws.com", "kms:CallerAccount": AccountID,
				"kms:EncryptionContext:SecretARN": secret, "kms:EncryptionContextKeys": []string{"SecretARN", "SecretVersionId"}}})
	}
	return out
}

func secretsManager(c Call) ([]Request, error) {
	p := c.Params
	id := str(p, "SecretId")
	arn := secretARN(c, id)
	ctx := map[string]any{}
	var tags map[string]string
	key := ""
	if c.Secret != nil {
		tags, key = c.Secret.Tags, c.Secret.KmsKeyID
		resourceTags(ctx, tags)
	}
	if id != "" {
		ctx["secretsmanager:SecretId"] = arn
	}
	action := "secretsmanager:" + c.Operation
	why := "secretsmanager." + c.Operation
	main := func() Request { return Request{Action: action, Resource: arn, Context: ctx, Why: why} }
	switch c.Operation {
	case "CreateSecret":
		// Required permissions: CreateSecret; TagResource with Tags;
		// ReplicateSecretToRegions with AddReplicaRegions; the KMS keys'
		// (API_CreateSecret).
		name := str(p, "Name")
		arn = secretARN(Call{Region: c.Region}, name)
		ctx := map[string]any{"secretsmanager:Name": name}
		list, _ := p["Tags"].([]any)
		desired := requestTags(ctx, list)
		resourceTags(ctx, desired)
		if d := str(p, "Description"); d != "" {
			ctx["secretsmanager:Description"] = d
		}
		if k := str(p, "KmsKeyId"); k != "" {
			ctx["secretsmanager:KmsKeyId"] = k
		}
		if v, ok := p["ForceOverwriteReplicaSecret"].(bool); ok {
			ctx["secretsmanager:ForceOverwriteReplicaSecret"] = fmt.Sprint(v)
		}
		replicas, _ := p["AddReplicaRegions"].([]any)
		var regions []string
		for _, r := range replicas {
			regions = append(regions, str(r.(map[string]any), "Region"))
		}
		if len(regions) > 0 {
			ctx["secretsmanager:AddReplicaRegions"] = regions
		}
		out := []Request{{Action: action, Resource: arn, Context: ctx, Why: why}}
		if len(list) > 0 {
			t := map[string]any{}
			requestTags(t, list)
			resourceTags(t, desired)
			out = append(out, Request{Action: "secretsmanager:TagResource", Resource: arn, Context: t, Why: why + " with Tags"})
		}
		if len(regions) > 0 {
			r := map[string]any{"secretsmanager:AddReplicaRegions": regions}
			resourceTags(r, desired)
			out = append(out, Request{Action: "secretsmanager:ReplicateSecretToRegions", Resource: arn, Context: r, Why: why + " with AddReplicaRegions"})
		}
		out = append(out, viaSecretsManager([]string{"kms:GenerateDataKey"}, str(p, "KmsKeyId"), c.Region, arn, why+" with KmsKeyId")...)
		out = append(out, replicaKeys(replicas, arn, why)...)
		return out, nil
	case "ReplicateSecretToRegions":
		replicas, _ := p["AddReplicaRegions"].([]any)
		var regions []string
		for _, r := range replicas {
			regions = append(regions, str(r.(map[string]any), "Region"))
		}
		ctx["secretsmanager:AddReplicaRegions"] = regions
		if v, ok := p["ForceOverwriteReplicaSecret"].(bool); ok {
			ctx["secretsmanager:ForceOverwriteReplicaSecret"] = fmt.Sprint(v)
		}
		// Replication reads the primary's value and encrypts it per replica.
		out := []Request{main()}
		out = append(out, viaSecretsManager([]string{"kms:Decrypt"}, key, c.Region, arn, why+" reads the primary")...)
		return append(out, replicaKeys(replicas, arn, why)...), nil
	case "GetSecretValue":
		for _, k := range []string{"VersionId", "VersionStage"} {
			if v := str(p, k); v != "" {
				ctx["secretsmanager:"+k] = v
			}
		}
		return append([]Request{main()}, viaSecretsManager([]string{"kms:Decrypt"}, key, c.Region, arn, why+" of a secret with a customer key")...), nil
	case "PutSecretValue":
		return append([]Request{main()}, viaSecretsManager([]string{"kms:GenerateDataKey"}, key, c.Region, arn, why+" of a secret with a customer key")...), nil
	case "UpdateSecret":
		out := []Request{main()}
		if d := str(p, "Description"); d != "" {
			ctx["secretsmanager:Description"] = d
		}
		newKey, changes := p["KmsKeyId"].(string)
		if changes {
			ctx["secretsmanager:KmsKeyId"] = newKey
			// A new key re-encrypts the current versions: Decrypt with the
			// old, Encrypt with the new (API_UpdateSecret, KmsKeyId).
			out = append(out, viaSecretsManager([]string{"kms:Decrypt"}, key, c.Region, arn, why+" re-encrypts from the old key")...)
			out = append(out, viaSecretsManager([]string{"kms:GenerateDataKey", "kms:Encrypt"}, newKey, c.Region, arn, why+" re-encrypts with the new key")...)
		}
		return out, nil
	case "TagResource":
		list, _ := p["Tags"].([]any)
		requestTags(ctx, list)
		return []Request{main()}, nil
	case "UntagResource":
		keys, _ := p["TagKeys"].([]any)
		var ks []string
		for _, k := range keys {
			ks = append(ks, fmt.Sprint(k))
		}
		sort.Strings(ks)
		ctx["aws:TagKeys"] = ks
		return []Request{main()}, nil
	case "DeleteSecret":
		if v, ok := p["ForceDeleteWithoutRecovery"].(bool); ok {
			ctx["secretsmanager:ForceDeleteWithoutRecovery"] = fmt.Sprint(v)
		}
		if v, ok := p["RecoveryWindowInDays"].(float64); ok {
			ctx["secretsmanager:RecoveryWindowInDays"] = fmt.Sprint(v)
		}
		return []Request{main()}, nil
	case "RotateSecret":
		// RotateSecret also needs lambda:InvokeFunction on the rotation
		// function (API_RotateSecret, Required permissions).
		fn := str(p, "RotationLambdaARN")
		if fn != "" {
			ctx["secretsmanager:RotationLambdaARN"] = fn
		}
		if v, ok := p["RotateImmediately"].(bool); ok {
			ctx["secretsmanager:RotateImmediately"] = fmt.Sprint(v)
		}
		if _, ok := p["RotationRules"]; ok {
			ctx["secretsmanager:ModifyRotationRules"] = "true"
		}
		out := []Request{main()}
		if fn != "" {
			out = append(out, Request{Action: "lambda:InvokeFunction", Resource: fn, Context: map[string]any{}, Why: why + " with RotationLambdaARN"})
		}
		return out, nil
	case "PutResourcePolicy":
		if v, ok := p["BlockPublicPolicy"].(bool); ok {
			ctx["secretsmanager:BlockPublicPolicy"] = fmt.Sprint(v)
		}
		return []Request{main()}, nil
	case "DescribeSecret", "CancelRotateSecret", "RemoveRegionsFromReplication", "ListSecretVersionIds", "RestoreSecret",
		"GetResourcePolicy", "DeleteResourcePolicy":
		return []Request{main()}, nil
	}
	return nil, fmt.Errorf("secretsmanager.%s: no mapping to IAM", c.Operation)
}

// replicaKeys: each replica with a customer key encrypts with it in its
// Region (GenerateDataKey and Encrypt).
func replicaKeys(replicas []any, arn, why string) []Request {
	var out []Request
	for _, r := range replicas {
		m := r.(map[string]any)
		region := str(m, "Region")
		replicaARN := strings.Replace(arn, ":secretsmanager:"+strings.Split(arn, ":")[3]+":", ":secretsmanager:"+region+":", 1)
		out = append(out, viaSecretsManager([]string{"kms:GenerateDataKey", "kms:Encrypt"}, str(m, "KmsKeyId"), region, replicaARN, why+" to a replica with its own key")...)
	}
	return out
}

func dynamoDB(c Call, partitionKeys map[string]string) ([]Request, error) {
	table := str(c.Params, "TableName")
	arn := "arn:aws:dynamodb:" + c.Region + ":" + AccountID + ":table/" + table
	ctx := map[string]any{}
	item, _ := c.Params["Key"].(map[string]any)
	if item == nil {
		item, _ = c.Params["Item"].(map[string]any)
	}
	pk, ok := partitionKeys[table]
	if !ok {
		return nil, fmt.Errorf("dynamodb.%s: table %s has no known partition key", c.Operation, table)
	}
	if v, ok := item[pk].(map[string]any); ok {
		// dynamodb:LeadingKeys: the partition key values a request names
		// (list_amazondynamodb.html, condition keys).
		ctx["dynamodb:LeadingKeys"] = []string{fmt.Sprint(v["S"])}
	}
	switch c.Operation {
	case "PutItem", "GetItem", "UpdateItem", "DeleteItem":
		return []Request{{Action: "dynamodb:" + c.Operation, Resource: arn, Context: ctx, Why: "dynamodb." + c.Operation}}, nil
	}
	return nil, fmt.Errorf("dynamodb.%s: no mapping to IAM", c.Operation)
}

func rds(c Call) ([]Request, error) {
	// DescribeDBClusters and DescribeDBInstances authorize on the cluster
	// or instance they name (list_amazonrds.html).
	switch c.Operation {
	case "DescribeDBClusters":
		return []Request{{Action: "rds:DescribeDBClusters", Resource: rdsARN(c, "cluster", str(c.Params, "DBClusterIdentifier")), Context: map[string]any{}, Why: "rds.DescribeDBClusters"}}, nil
	case "DescribeDBInstances":
		return []Request{{Action: "rds:DescribeDBInstances", Resource: rdsARN(c, "db", str(c.Params, "DBInstanceIdentifier")), Context: map[string]any{}, Why: "rds.DescribeDBInstances"}}, nil
	}
	return nil, fmt.Errorf("rds.%s: no mapping to IAM", c.Operation)
}

// rdsARN is the cluster's or instance's ARN: the identifier a call gives
// may be one already.
func rdsARN(c Call, kind, id string) string {
	if strings.HasPrefix(id, "arn:") {
		return id
	}
	return "arn:aws:rds:" + c.Region + ":" + AccountID + ":" + kind + ":" + id
}

// keyManagement maps the KMS calls readers' grants make: on the key, under
// its default key policy (the account's IAM decides), with CreateGrant's
// condition keys (list_awskeymanagementservice.html). RetireGrant needs no
// IAM permission of the grant's retiring principal: the grant gives it
// (https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html).
func keyManagement(c Call) ([]Request, error) {
	p := c.Params
	key := kmsKeyARN(str(p, "KeyId"), c.Region)
	ctx := map[string]any{"kms:CallerAccount": AccountID}
	req := Request{Action: "kms:" + c.Operation, Resource: key, Context: ctx, ResourcePolicy: defaultKeyPolicy(accountOf(key)), Why: "kms." + c.Operation}
	switch c.Operation {
	case "DescribeKey", "ListGrants":
		return []Request{req}, nil
	case "CreateGrant":
		for k, v := range c.KeyTags {
			ctx["aws:ResourceTag/"+k] = v
		}
		ctx["kms:GranteePrincipal"] = str(p, "GranteePrincipal")
		if r := str(p, "RetiringPrincipal"); r != "" {
			ctx["kms:RetiringPrincipal"] = r
		}
		var ops []string
		list, _ := p["Operations"].([]any)
		for _, o := range list {
			ops = append(ops, fmt.Sprint(o))
		}
		ctx["kms:GrantOperations"] = ops
		constraints, _ := p["Constraints"].(map[string]any)
		for _, kind := range []string{"EncryptionContextSubset", "EncryptionContextEquals"} {
			pairs, ok := constraints[kind].(map[string]any)
			if !ok {
				continue
			}
			ctx["kms:GrantConstraintType"] = kind
			var keys []string
			for k, v := range pairs {
				ctx["kms:EncryptionContext:"+k] = fmt.Sprint(v)
				keys = append(keys, k)
			}
			sort.Strings(keys)
			ctx["kms:EncryptionContextKeys"] = keys
		}
		return []Request{req}, nil
	case "RetireGrant":
		return nil, nil
	}
	return nil, fmt.Errorf("kms.%s: no mapping to IAM", c.Operation)
}

// schedules maps the EventBridge Scheduler calls expiries make: each on
// the schedule (arn:...:schedule/<group>/<name>, list_amazoneventbridgescheduler.html),
// and a create or update also passes its target's role: iam:PassRole with
// iam:PassedToService scheduler.amazonaws.com
// (https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html).
func schedules(c Call) ([]Request, error) {
	group := str(c.Params, "GroupName")
	if group == "" {
		group = "default"
	}
	arn := "arn:aws:scheduler:" + c.Region + ":" + AccountID + ":schedule/" + group + "/" + str(c.Params, "Name")
	reqs := []Request{{Action: "scheduler:" + c.Operation, Resource: arn, Context: map[string]any{}, Why: "scheduler." + c.Operation}}
	switch c.Operation {
	case "CreateSchedule", "UpdateSchedule":
		target, _ := c.Params["Target"].(map[string]any)
		reqs = append(reqs, Request{Action: "iam:PassRole", Resource: str(target, "RoleArn"),
			Context: map[string]any{"iam:PassedToService": "scheduler.amazonaws.com"}, Why: "scheduler." + c.Operation + " passes its role"})
		return reqs, nil
	case "DeleteSchedule", "GetSchedule":
		return reqs, nil
	}
	return nil, fmt.Errorf("scheduler.%s: no mapping to IAM", c.Operation)
}
