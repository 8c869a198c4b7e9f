# Python config evaluator placeholder
