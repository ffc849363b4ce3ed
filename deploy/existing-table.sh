#!/bin/sh
# Prints "true" when the stage's clusters table exists outside its stack (a deleted
# stack kept it: DeletionPolicy Retain), which `make deploy` then adopts
# (ExistingClustersTable=true); "false" when the stack holds it or there is none.
#   sh deploy/existing-table.sh STAGE [LOGICAL-ID TABLE-SUFFIX]   (default: ClustersTable clusters)
stage="$1"
logical="${2:-ClustersTable}"
suffix="${3:-clusters}"
if aws cloudformation describe-stack-resource --stack-name "daskyard-$stage" \
        --logical-resource-id "$logical" >/dev/null 2>&1; then
    echo false
elif aws dynamodb describe-table --table-name "daskyard-$stage-$suffix" >/dev/null 2>&1; then
    echo true
else
    echo false
fi
