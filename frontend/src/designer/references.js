// References bpmn-moddle cannot resolve are kept as written.
//
// SpiffWorkflow reads bpmn:loopDataInputRef / loopDataOutputRef of a multi-instance activity as the *name of a
// process variable* (bpmn/campaign_launch.bpmn: <bpmn:loopDataOutputRef>plan_results</...>), not as the id of a
// data element. bpmn-moddle resolves references by id, warns "unresolved reference <plan_results>" and drops the
// property, so saving from the modeler would silently lose where the results go. A stand-in element carrying
// only that id is put in its place: it is written back as the same reference text, and never as an element.

const UNRESOLVED = /^unresolved reference <(.*)>$/;

export function keepUnresolvedReferences(moddle, warnings) {
  let kept = 0;
  for (const warning of warnings || []) {
    const found = UNRESOLVED.exec(warning.message || "");
    const element = warning.element;
    if (!found || !element || !warning.property) continue;
    const descriptor = element.$descriptor.propertiesByName[warning.property];
    if (!descriptor || !descriptor.isReference) continue;
    const type = descriptor.type.includes(":") ? descriptor.type : `${descriptor.ns.prefix}:${descriptor.type}`;
    let standIn;
    try {
      standIn = moddle.create(type, { id: found[1] });
    } catch {
      standIn = moddle.create("bpmn:BaseElement", { id: found[1] });
    }
    if (descriptor.isMany) element.get(descriptor.name).push(standIn);
    else element.set(descriptor.name, standIn);
    kept += 1;
  }
  return kept;
}

/** Read ``xml`` and write it back with the modeler's moddle, as saving does (for checking fidelity). */
export async function roundTrip(moddle, xml) {
  const { rootElement, warnings } = await moddle.fromXML(xml, "bpmn:Definitions");
  const kept = keepUnresolvedReferences(moddle, warnings);
  const { xml: out } = await moddle.toXML(rootElement, { format: true });
  const left = warnings.filter((w) => !UNRESOLVED.test(w.message || "")).map((w) => w.message);
  return { xml: out, warnings: left, kept };
}
