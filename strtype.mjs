t('join-sep', [sl.slice(0,5), sl.slice(5)].join(''));
t('repeat1', sl.repeat(1));
t('concat2', sl.slice(0,5).concat(sl.slice(5)));
t('charAt+slice', sl.charAt(0) + sl.slice(1));
