"""The pure core: definitions, runtime, expressions, assignment rules. SpiffWorkflow and stdlib only."""
