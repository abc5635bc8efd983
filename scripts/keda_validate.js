// Validates KEDA objects (a JSON array on stdin) against KEDA's schema,
// using @kubernetes-models/keda (installed by scripts/k8s-tools.sh).
// Exits 1 and names each object that fails.
const kinds = {
  ScaledObject: require("@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject").ScaledObject,
  TriggerAuthentication: require("@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication").TriggerAuthentication,
};

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  let failed = 0;
  for (const object of JSON.parse(input)) {
    const Model = kinds[object.kind];
    const name = `${object.kind}/${object.metadata.name}`;
    if (!Model || object.apiVersion !== "keda.sh/v1alpha1") {
      console.log(`${name}: not a KEDA kind this check knows (${object.apiVersion})`);
      failed++;
      continue;
    }
    try {
      new Model(object).validate();
    } catch (error) {
      console.log(`${name}: ${error.message}`);
      failed++;
    }
  }
  process.exit(failed ? 1 : 0);
});
